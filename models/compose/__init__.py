"""The composition API the worker uses: the Composer protocol, the Composition type and the factory."""
