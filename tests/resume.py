"""A shared check of the optimizer tests: a run checkpointed part-way and restored into
fresh objects ends where the uninterrupted run does."""
import tensorflow as tf


def straight_and_resumed(fresh, train, grads, tmp_path, split: int = 5) -> tuple:
    """``fresh()`` makes ``(optimizer, kernel, bias)``; ``train(optimizer, kernel, bias,
    grads)`` steps them. Returns the objects trained on all of ``grads`` in one go, and
    those trained on ``grads[:split]``, saved, restored into fresh objects (as the engine
    restores: slots are restored when they are created) and trained on the rest."""
    straight = fresh()
    train(*straight, grads)
    first = fresh()
    train(*first, grads[:split])
    path = tf.train.Checkpoint(optimizer=first[0], kernel=first[1], bias=first[2]).save(
        str(tmp_path / "ckpt"))
    resumed = fresh()
    tf.train.Checkpoint(optimizer=resumed[0], kernel=resumed[1], bias=resumed[2]).restore(
        path).assert_existing_objects_matched()
    train(*resumed, grads[split:])
    return straight, resumed
