# CPU preprocessing is compared against OpenCV (tests and `kiln-bench preprocess`).
need_pip opencv-python-headless==5.0.0.93
