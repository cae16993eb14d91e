"""Settings and the user-edited data files, validated with clear messages."""

from yuqing.config.errors import ConfigError
from yuqing.config.settings import Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
