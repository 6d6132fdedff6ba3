"""jaxfer: MicroExpNet in JAX/Flax, trained by knowledge distillation from a larger teacher."""

__version__ = '0.1.0'
