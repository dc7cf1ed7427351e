"""Models: the Keras builders of the report's networks, the ImageNet bases, and their code shown in notebooks."""
