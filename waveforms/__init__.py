# Pulse-train engine: plans (plan.py), the wave envelope (envelope.py) and the output player
# (player.py). Pure logic plus drivers/ only: never imports firmware/ or safety/.
