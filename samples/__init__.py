"""The bundled sample export (`sample_export.json`, synthetic chats) the offline demo imports."""
