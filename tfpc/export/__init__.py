"""Exporting trained codecs as SavedModels in TF Serving's layout.

Every export is a version directory `<base>/<name>/<version>/` holding a
SavedModel and tfpc's metadata (`assets.extra/tfpc.json`). A codec exists in
two forms, made from the same weights and with the same model id:

* codec form (`codec_form`): real range coding to and from `.tfpc` bytes;
  needs `import tensorflow_compression` (or a TF Serving built with its ops).
* serving form (`serving_form`): stock TF ops only, so stock TF Serving and any
  TF program load it; reconstruction, rate estimate, analysis and synthesis.
"""

from tfpc.export.codec_form import export_codec
from tfpc.export.layout import METADATA_PATH
from tfpc.export.layout import model_id
from tfpc.export.layout import versions
from tfpc.export.serving_form import SERVING_SUFFIX
from tfpc.export.serving_form import export_serving

