"""Turning sequences into an adapter: the SFT fit, the DPO preference stage, the time budget and the
few collectives a multi-process run needs (`accelerate/` holds the launch configs)."""
