from tests.assets.models import Plain1D


def build_model():
    return Plain1D(depth=10, width=8)
