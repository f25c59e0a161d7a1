"""The held-out figures the gate decides by: perplexity, hits@1, the replies users would get, their
style and the blind judge, each measured once per model and example (the evaluation cache)."""
