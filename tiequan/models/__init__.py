"""The detector's models as analysts manage them: metrics, registry, training, evaluation."""
