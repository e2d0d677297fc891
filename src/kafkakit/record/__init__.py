"""Kafka record formats: RecordBatch v2 (``batch``), legacy v0/v1 message sets (``legacy``) and codecs.

How it works: this package only re-exports the public names of its modules; the producer, the
consumer and the broker import from here or from ``kafkakit.record.batch`` directly.

What it must never do: grow logic of its own or import anything heavier than its own modules.
"""

from kafkakit.record.batch import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    ControlRecordType,
    Record,
    RecordInput,
    batch_crc_ok,
    decode_batch,
    decode_control_record_key,
    decode_control_record_value,
    decode_records,
    encode_batch,
    encode_control_batch,
    estimate_size_in_bytes,
    iter_batches,
    read_batch_header,
    record_size,
    set_base_offset,
    set_partition_leader_epoch,
)
from kafkakit.record.compression import GZIP, LZ4, NONE, SNAPPY, ZSTD, codec_id, compress, decompress

__all__ = [
    "BATCH_HEADER_SIZE",
    "GZIP",
    "LOG_OVERHEAD",
    "LZ4",
    "NONE",
    "SNAPPY",
    "ZSTD",
    "BatchHeader",
    "ControlRecordType",
    "Record",
    "RecordInput",
    "batch_crc_ok",
    "codec_id",
    "compress",
    "decode_batch",
    "decode_control_record_key",
    "decode_control_record_value",
    "decode_records",
    "decompress",
    "encode_batch",
    "encode_control_batch",
    "estimate_size_in_bytes",
    "iter_batches",
    "read_batch_header",
    "record_size",
    "set_base_offset",
    "set_partition_leader_epoch",
]
