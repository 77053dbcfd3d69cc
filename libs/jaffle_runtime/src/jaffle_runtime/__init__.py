"""How the platform's flow runs start: the warm launcher and the process worker."""
