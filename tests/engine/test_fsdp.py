"""The FSDP configuration shipped in examples/fsdp.yaml, built and applied to a model.

Accelerate runs FSDP only on accelerators: with two CPU processes (ACCELERATE_USE_CPU) it falls
back to plain data parallelism (MULTI_CPU), so a CPU cannot train under it. What a CPU can check:
`accelerate launch` turns the file into an FSDP2 environment, and the plugin built from that
environment shards the model one transformer block at a time."""

from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_multi_gpu_env
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from tlcourse.engine.config import ROOT

CONFIG = ROOT / "examples" / "fsdp.yaml"


def launch_env():
    args = launch_command_parser().parse_args(["--config_file", str(CONFIG), "-m", "tlcourse.tools.cli", "train", "x"])
    args, _, _ = _validate_launch_command(args)
    return prepare_multi_gpu_env(args)


def test_launch_turns_the_file_into_an_fsdp2_full_shard_environment():
    env = launch_env()
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    assert env["FSDP_RESHARD_AFTER_FORWARD"] == "true"  # weights freed after each block: ZeRO-3
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_the_plugin_shards_one_unit_per_transformer_block(monkeypatch):
    for key, value in launch_env().items():
        if key.startswith("FSDP_"):
            monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    model = LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                         num_key_value_heads=2, intermediate_size=64))
    plugin.set_auto_wrap_policy(model)
    units = [m for m in model.modules() if plugin.auto_wrap_policy(m, recurse=False, nonwrapped_numel=0)]
    assert plugin.fsdp_version == 2 and len(units) == 3
    assert all(isinstance(m, LlamaDecoderLayer) for m in units)
