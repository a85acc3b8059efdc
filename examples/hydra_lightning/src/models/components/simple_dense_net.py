from torch import nn


class SimpleDenseNet(nn.Module):
    """Three hidden layers with batch norm, as the template's MNIST net."""

    def __init__(
        self, input_size: int, lin1_size: int, lin2_size: int, lin3_size: int, output_size: int
    ) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(input_size, lin1_size),
            nn.BatchNorm1d(lin1_size),
            nn.ReLU(),
            nn.Linear(lin1_size, lin2_size),
            nn.BatchNorm1d(lin2_size),
            nn.ReLU(),
            nn.Linear(lin2_size, lin3_size),
            nn.BatchNorm1d(lin3_size),
            nn.ReLU(),
            nn.Linear(lin3_size, output_size),
        )

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.model(x.flatten(1))
