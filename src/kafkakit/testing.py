"""pytest plugin (placeholder until the broker lands): the ``kafka_broker`` fixture."""
