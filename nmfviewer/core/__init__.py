"""The Qt-free core: loading, NMF engine, export. Never imports Qt."""
