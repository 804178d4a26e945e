import torch

torch.set_num_threads(1)

# helper modules and scripts, not tests (and not doctest modules: ddp_train.py trains when imported)
collect_ignore_glob = ["assets/*"]
