"""callcenter: an evaluation-driven call center on Asterisk 22 (FastAGI IVR, AMI queues, mutual ratings)."""

__version__ = "0.1.0"
