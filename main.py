# Starts the device: soft-off until a long POWER press, then the application (firmware/).
from firmware import softoff

softoff.run()
