from config_files import model_dir, write_config

__all__ = ["model_dir", "write_config"]
