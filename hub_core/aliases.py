"""Short names for `hub run` and hub.infer(): `hub run face --input_path ...`."""

ALIASES = {
    "face": "face_landmark_localization",
    "hand": "hand_pose_localization",
    "human": "human_pose_estimation",
    "body": "human_pose_estimation",
    "animal": "animal_pose_estimation",
}


def resolve(name):
    """The module name an alias stands for; other names are returned unchanged."""
    return ALIASES.get(name, name)


def table():
    return "\n".join(f"{alias:<8} {module}" for alias, module in ALIASES.items())
