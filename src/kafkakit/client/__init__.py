"""kafkakit.client"""
