import numpy as np
import openvino as ov
from stateful_builders import RUNNING_SUM_WIDTH, make_runner, tensor_iterator_rnn_model

from ovms_cli.servables.stateful.low_latency import apply_low_latency
from ovms_cli.servables.stateful.special_inputs import SequenceControl, SequenceRequest


async def test_low_latency_turns_a_tensor_iterator_into_a_sequence_served_in_chunks(core: ov.Core) -> None:
    """Two requests of 3 steps each on the transformed model equal one run of 6 steps on the original."""
    chunk = 3
    x = np.random.default_rng(5).standard_normal((1, 2 * chunk, RUNNING_SUM_WIDTH)).astype(np.float32)
    h0 = np.zeros((1, RUNNING_SUM_WIDTH), np.float32)
    whole = (
        core.compile_model(tensor_iterator_rnn_model(2 * chunk), "CPU")
        .create_infer_request()
        .infer([x, h0])[0]
    )

    model = tensor_iterator_rnn_model(chunk)
    apply_low_latency(model)
    assert len(model.get_sinks()) == 1
    runner = make_runner(core.compile_model(model, "CPU"))
    assert len(runner.queue.variable_names) == 1
    await runner.infer(SequenceRequest(1, SequenceControl.START), {0: x[:, :chunk], 1: h0})
    last = await runner.infer(SequenceRequest(1, SequenceControl.END), {0: x[:, chunk:], 1: h0})
    np.testing.assert_allclose(last["h"], whole, rtol=1e-5, atol=1e-6)

    untransformed = core.compile_model(tensor_iterator_rnn_model(chunk), "CPU").create_infer_request()
    second_alone = untransformed.infer([x[:, chunk:], h0])[0]
    assert not np.allclose(last["h"], second_alone)  # the state did carry over
