#!/usr/bin/env python3
"""Pre-label a folder of images by template matching; no workspace needed.

    scripts/prelabel.py IMAGES_DIR --exemplars ex.json --out tasks.json
        [--format labelstudio|coco] [--min-score S] [--workers N] [--dask ADDRESS]

The logic lives in :mod:`labeler.exchange.export` (importable, tested): this is its entry point.
"""

from labeler.exchange.export import main

if __name__ == "__main__":  # the guard matters: worker processes re-import this file
    main()
