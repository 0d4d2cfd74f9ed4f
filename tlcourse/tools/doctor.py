"""`tlcourse doctor`: versions, device, profile, and every asset's state with the fix."""
from ..engine import assets
from ..engine.assets import FIX, CACHE
from ..engine.config import get_profile, offline
from ..engine.corpora import DATASETS
from ..engine.device import describe_precision, pick_device
from ..engine.loaders import MODELS, dataset_dir, model_dir
from ..engine.records import versions

def asset_states() -> dict:
    """{what: missing | verified | corrupt ...} for raw files and everything prepared from them."""
    states = {f"raw {name}": assets.raw_state(name) for name in assets.manifest()["assets"]}
    states |= {f"model {name}": assets.stamp_state(model_dir(name)) for name in MODELS}
    states |= {f"dataset {name}": assets.stamp_state(dataset_dir(name)) for name in DATASETS}
    return states


def doctor(show=print) -> bool:
    """Print the report; True when every asset is verified."""
    profile = get_profile()
    show("versions   " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    show(f"device     {pick_device()}; {describe_precision()}")
    show(f"profile    {profile.name}: {profile.as_dict()}")
    show(f"hub        {'offline' if offline() else 'online allowed'}; cache {CACHE}")
    states = asset_states()
    for what, state in states.items():
        show(f"  {what:28s} {state}")
    bad = [w for w, s in states.items() if s != "verified"]
    if any(v is None for v in versions().values()):
        show("some packages are missing: run `make setup` (or pip install -r requirements.txt)")
    show(f"{len(bad)} asset(s) not verified: {FIX}" if bad else "all assets verified")
    return not bad
