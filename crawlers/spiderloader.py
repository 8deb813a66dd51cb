"""A Scrapy spider loader whose spiders are the site profiles (SPIDER_LOADER_CLASS)."""

from __future__ import annotations

import builtins
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from crawlers.crawl_settings import sites_dirs
from crawlers.profiles import SiteProfile, load_profiles
from crawlers.spiders.profile import ProfileSpider, make_spider_class

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.settings import BaseSettings

log = logging.getLogger(__name__)


class ProfileSpiderLoader:
    """Implements scrapy's ISpiderLoader: one ProfileSpider subclass per profile.

    Profiles are read from the setting TIEQUAN_SITES_DIR (default: default_sites_dir()).
    """

    def __init__(self, profiles: dict[str, SiteProfile]) -> None:
        self.profiles = profiles
        self._classes: dict[str, type[ProfileSpider]] = {}

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ProfileSpiderLoader:
        dirs = sites_dirs(settings.get("TIEQUAN_SITES_DIR"))
        profiles = load_profiles(dirs)
        log.debug("loaded %d site profiles from %s", len(profiles), ", ".join(map(str, dirs)))
        return cls(profiles)

    def load(self, spider_name: str) -> type[ProfileSpider]:
        if spider_name not in self.profiles:
            raise KeyError(f"Spider not found: {spider_name}")
        if spider_name not in self._classes:
            self._classes[spider_name] = make_spider_class(self.profiles[spider_name])
        return self._classes[spider_name]

    def list(self) -> list[str]:
        return sorted(self.profiles)

    def find_by_request(self, request: Request) -> builtins.list[str]:
        netloc = urlparse(request.url).netloc
        return [
            name
            for name, profile in sorted(self.profiles.items())
            if urlparse(profile.base_url).netloc == netloc
        ]
