"""Text workloads: the fixed English corpus and a sentence encoder (all-MiniLM-L6-v2) with its
compressed variants, measured like the image models' (size, latency, throughput, J per 1,000
items) with fidelity to the FP32 embeddings standing in for accuracy."""
