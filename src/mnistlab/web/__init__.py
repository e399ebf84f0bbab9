"""The local web app: draw a digit and watch both networks answer (`mnistlab serve`)."""
