import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TLCOURSE_PROFILE", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
