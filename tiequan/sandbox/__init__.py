"""The sandbox: a local, seeded imitation of the platforms the unit watches.

``server.SandboxServer`` serves four sites (mall, JS mall, social feed, property
portal) on one port; ``truth.build_truth`` says which item violates which category.
"""
