"""scikit-learn's bundled 8x8 digits as a LightningDataModule: works offline, trains in seconds."""

import torch
from lightning.pytorch import LightningDataModule
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset


class DigitsDataModule(LightningDataModule):
    def __init__(
        self, batch_size: int = 64, val_size: float = 0.2, test_size: float = 0.2, seed: int = 0
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.splits: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x / 16.0, dtype=torch.float32)
        y = torch.tensor(y)
        hp = self.hparams
        rest, test = train_test_split(
            range(len(y)), test_size=hp.test_size, random_state=hp.seed, stratify=y
        )
        train, val = train_test_split(
            rest, test_size=hp.val_size, random_state=hp.seed, stratify=y[rest]
        )
        for name, rows in (("train", train), ("val", val), ("test", test)):
            self.splits[name] = TensorDataset(x[rows], y[rows])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["train"], batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["val"], batch_size=256)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["test"], batch_size=256)
