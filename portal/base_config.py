"""What every settings module derives from: the code folder, DEBUG and the data folder."""

from pathlib import Path

from core.env import env_bool, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("KEYWARDEN_DATA_DIR", str(BASE_DIR / "var"))).resolve()
