# Starts the application; everything lives in firmware/.
from firmware import app

app.main()
