"""kafkakit.cli"""
