"""The review workbench: a FastAPI application with server-rendered Chinese pages."""
