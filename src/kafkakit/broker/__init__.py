"""kafkakit.broker"""
