"""kafkakit.record"""
