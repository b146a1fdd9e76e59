"""An upload handler that refuses a file over DATASET_MAX_UPLOAD_BYTES while it streams in.

Django's own handlers then write to a temporary file on disk (never memory, past 2 MB); this one
counts the bytes first and stops the upload at the limit, discarding what came so far.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class SizeLimitUploadHandler(FileUploadHandler):
    def __init__(self, request=None, limit: int = 0):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.too_big = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_big = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None
