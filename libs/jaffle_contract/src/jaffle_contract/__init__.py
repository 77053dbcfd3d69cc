"""The platform's shared contract: what every team package and the coordinator agree on."""
