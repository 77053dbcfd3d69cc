"""The platform's declarations: what every team package and the coordinator agree on."""
