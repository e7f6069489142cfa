"""Golden model: integer-exact PyTorch modules for every hwgen operator (DESIGN.md section 3)."""
