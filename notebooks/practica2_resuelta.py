# Fuente del cuaderno practica2_resuelta.ipynb en formato "percent" (el de jupytext): cada celda
# empieza con una línea `# %%` (código) o `# %% [markdown]` (texto). build_notebook.py lo convierte
# en el .ipynb y lo ejecuta; no lo edites a mano en el .ipynb.

# %% [markdown]
# <a href="https://colab.research.google.com/github/osiris/test/blob/develop/ia-nnip-p02.ipynb" target="_parent"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>

# %% [markdown]
# > **Versión resuelta.** Esta es la práctica 2 con todos los huecos (`...`) completados, en el mismo
# > orden y con el mismo texto. Se guardó con las salidas de una ejecución completa (10 épocas por red,
# > en CPU), así que las figuras, las pérdidas y las tablas se ven sin ejecutarla.
# >
# > Cambios respecto al enunciado, todos visibles:
# > * una celda llama a `mnistlab.data.ensure_mnist("./data")` antes de `datasets.MNIST(...)`, para que
# >   los datos se obtengan (y verifiquen) también sin acceso a los servidores originales;
# > * una celda `torch.manual_seed(0)` antes de construir cada red, para que el resultado sea reproducible;
# > * las variables de entorno `MNISTLAB_EPOCHS` y `MNISTLAB_MAX_STEPS` permiten una ejecución corta
# >   (por ejemplo, en integración continua) sin editar el cuaderno; por defecto se entrenan 10 épocas;
# > * se corrigen erratas menores: `nn.Conv2D` → `nn.Conv2d` (ver la nota de la CNN), "luegar" → "lugar",
# >   "Cálcular" → "Calcular";
# > * `torch.load(..., weights_only=True)`: carga solo tensores, sin ejecutar código del fichero
# >   (es el valor por defecto desde PyTorch 2.6);
# > * al final, las respuestas a los puntos 2–4 del entregable, calculadas con los modelos entrenados;
# > * las celdas de comprobación del cuaderno de ejercicios (`practica2.ipynb`), después de cada parte, y
# >   su primera celda, que instala `mnistlab` si falta.
# >
# > Necesita el paquete `mnistlab` (`pip install -e .` en la raíz del repositorio).

# %% [markdown]
# # Práctica 2: Redes neuronales para clasificación de imágenes
#
# En esta práctica, implementaremos redes neuronales para clasificar dígitos manuscritos sin necesidad de extracción manual de características. Utilizaremos el dataset MNIST, que contiene imágenes de dígitos de 28x28 píxeles.
#
# Para empezar, importamos todas las bibliotecas que necesitaremos:

# %% id="instalar-mnistlab"
FUENTE_MNISTLAB = "mnistlab"

try:
    import mnistlab
except ImportError:
    import subprocess
    import sys

    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", FUENTE_MNISTLAB])
    import mnistlab

from mnistlab import check

# %%
import os

import torch
import torch.nn as nn
import torch.optim as optim
import torch.nn.functional as F
from torch.utils.data import TensorDataset, DataLoader

import torchvision
import torchvision.transforms as transforms
import torchvision.datasets as datasets

import matplotlib.pyplot as plt
import numpy as np

plt.rcParams["figure.figsize"] = [8, 6]

# %% [markdown]
# Luego, cargamos el dataset MNIST y visualizamos algunos ejemplos del conjunto de entrenamiento:

# %%
# mnistlab obtiene los cuatro ficheros de MNIST en ./data/MNIST/raw y comprueba su md5 (sin red si
# ya están). Así, las llamadas a datasets.MNIST de abajo, con download=True, no descargan nada.
from mnistlab.data import ensure_mnist

estado_datos = ensure_mnist("./data")
print("MNIST verificado en", estado_datos.root / "MNIST" / "raw")

# %%
train_dataset = datasets.MNIST(
    root="./data",
    train=True,
    download=True,
    transform=transforms.ToTensor()
)

test_dataset = datasets.MNIST(
    root="./data",
    train=False,
    download=True,
    transform=transforms.ToTensor()
)

plt.figure()
for i in range(16):
    plt.subplot(4, 4, i+1)
    plt.imshow(train_dataset.data[i], cmap=plt.get_cmap("gray_r"))
    plt.axis('off')

# %% [markdown]
# # Red Neuronal Multicapa
#
# En primer lugar, implementaremos una red neuronal multicapa (`MultiLayerNN`) para que pueda clasificar imágenes de 28x28 píxeles en 10 categorías diferentes.
#
# ## Arquitectura de la red
# * La red contará con dos capas ocultas, cada una con 512 neuronas, y aplicaremos una función de activación ReLU después de cada capa oculta para introducir no linealidad.
# * La capa de salida tendrá 10 neuronas, lo que corresponde a las 10 posibles categorías (dígitos del 0 al 9) que el modelo debe predecir.
#
# ## Transformación de los datos de entrada
# Antes de procesar las imágenes, es necesario convertirlas de una matriz de 28x28 píxeles a un vector de 784 componentes. Esto se logra utilizando la función `view` de los tensores de PyTorch.
#
# ## Herramientas de PyTorch:
# Algunas clases y funciones de PyTorch que nos serán útiles para implementar el modelo son:
# * `nn.Linear`: implementa una capa totalmente conectada. Debemos especificar el número de entradas y salidas de la capa.
# * `F.relu`: implementa la función de activación ReLU, que se aplica después de las capas ocultas (la podemos aplicar directamente dentro del método `forward` de la red).
#
# ## Entrenamiento del modelo
# * **Optimizador**: utilizaremos el método de Gradiente Descendente Estocástico por mini-batches (`optim.SGD`) para ajustar los pesos de la red durante el entrenamiento.
# * **Función de pérdida**: la función de pérdida será la Entropía Cruzada (`nn.CrossEntropyLoss`), adecuada para problemas de clasificación multiclase, como la clasificación de dígitos manuscritos.
#
# Comenzamos implementando la red neuronal multicapa:

# %%
class MultiLayerNN(torch.nn.Module):
    """
    Red neuronal multicapa (MultiLayerNN)
    """
    def __init__(self):
        super().__init__()

        # Primera capa oculta
        self.fc1 = nn.Linear(784, 512)

        # Segunda capa oculta
        self.fc2 = nn.Linear(512, 512)

        # Capa de salida
        self.fc3 = nn.Linear(512, 10)

    def forward(self, x):
        # Transformar la entrada en un vector para las capas totalmente conectadas
        x = x.view(-1, 784)

        # Aplicar la primera capa oculta seguida de ReLU
        x = self.fc1(x)
        x = F.relu(x)

        # Aplicar la segunda capa oculta seguida de ReLU
        x = self.fc2(x)
        x = F.relu(x)

        # Aplicar la capa de salida
        x = self.fc3(x)

        return x

# %% id="comprobar-mlp-arquitectura"
# Comprobación: las capas de MultiLayerNN y su pasada forward
check.architecture("MultiLayerNN", lang="es")
check.forward("MultiLayerNN", lang="es")

# %% [markdown]
# Ahora, implementamos el proceso de entrenamiento de la red:

# %%
# Semilla fija antes de construir la red: los pesos iniciales y el orden de los mini-batches son
# siempre los mismos (en CPU, las pérdidas coinciden paso a paso con `mnistlab train mlp --seed 0`).
torch.manual_seed(0);

# %% id="entrenamiento-mlp"
# Configuración del dispositivo (GPU si está disponible, de lo contrario CPU)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# Construcción del modelo y envío al dispositivo
model1 = MultiLayerNN()
model1.to(device)

# Creación de dataLoaders para manejar los batches de entrenamiento y prueba
batch_size = 64
train_loader = DataLoader(dataset=train_dataset, batch_size=batch_size, shuffle=True)
test_loader = DataLoader(dataset=test_dataset, batch_size=batch_size, shuffle=False)

# Función de pérdida y optimizador
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model1.parameters(), lr=0.01)

# Lista para guardar los valores de pérdida durante el entrenamiento
train_loss = []

# Épocas de entrenamiento (MNISTLAB_EPOCHS acorta la ejecución sin editar el cuaderno; por defecto, 10)
num_epochs = int(os.environ.get("MNISTLAB_EPOCHS", 10))

# Tope opcional de pasos para ejecuciones cortas (MNISTLAB_MAX_STEPS; 0 = sin tope)
max_steps = int(os.environ.get("MNISTLAB_MAX_STEPS", 0))

# Establecer el modelo en modo entrenamiento
model1.train()

# Bucle de entrenamiento
for epoch in range(num_epochs):
    for inputs, labels in train_loader:
        # Mover los datos a la GPU
        inputs, labels = inputs.to(device), labels.to(device)

        # Limpiar los gradientes
        optimizer.zero_grad()

        # Pasada forward
        outputs = model1(inputs)

        # Calcular la pérdida
        loss = criterion(outputs, labels)

        # Pasada backward
        loss.backward()

        # Actualizar los pesos
        optimizer.step()

        # Guardar el valor de pérdida
        train_loss.append(loss.item())

        if max_steps and len(train_loss) >= max_steps:
            break

    print(f"Época {epoch + 1}/{num_epochs}, Pérdida: {loss.item():.4f}")

    if max_steps and len(train_loss) >= max_steps:
        break

# %% id="comprobar-mlp-entrenamiento"
# Comprobación: el bucle de entrenamiento (se repite con un subconjunto pequeño y otra semilla)
check.training("MultiLayerNN", lang="es")

# %% [markdown]
# Guardamos el modelo para poder reutilizarlo cuando queramos:

# %%
torch.save(model1.state_dict(), "./multinn.pth")

# %% id="comprobar-mlp-guardado"
# Comprobación: multinn.pth se carga en la clase de la práctica
check.saved("./multinn.pth", lang="es")

# %% [markdown]
# Visualizamos los valores de la función de pérdida durante el entrenamiento:

# %%
train_loss = np.array(train_loss)
N = 60
run_avg_train_loss = np.convolve(train_loss, np.ones((N,))/N, mode="valid")

plt.figure()
plt.plot(train_loss, alpha = 0.3) # original
plt.plot(run_avg_train_loss, color="red")   # versión suavizada
plt.title("Pérdida durante el entrenamiento (MultiLayerNN)")

# %% id="comprobar-mlp-figura"
# Comprobación: la figura tiene la pérdida y su media móvil de 60 pasos
check.plots("train_loss", "run_avg_train_loss", lang="es")

# %% [markdown]
# Definimos una función para evaluar el modelo entrenado en el conjunto de prueba:

# %%
def evaluate_accuracy(model, test_dataset, device="cpu"):
    """
    Calcula la accuracy general y por dígito en el conjunto de prueba.
    """
    model.to(device)

    # Establecer el modelo en modo evaluación
    model.eval()

    correct_per_class = torch.zeros(10)  # Conteo correcto por dígito
    total_per_class = torch.zeros(10)    # Total de ejemplos por dígito
    total_correct = 0
    total_samples = 0

    test_loader = DataLoader(test_dataset, batch_size=1000, shuffle=False)

    with torch.no_grad():  # No necesitamos gradientes durante la evaluación
        for images, labels in test_loader:
            # Mover los datos a la GPU
            images, labels = images.to(device), labels.to(device)

            # Pasada forward
            outputs = model(images)

            # Obtener las predicciones
            _, predicted = torch.max(outputs, 1)

            # Actualizar el conteo de predicciones correctas y totales por dígito
            for i in range(10):
                correct_per_class[i] += (predicted[labels == i] == i).sum().item()
                total_per_class[i] += (labels == i).sum().item()

            # Actualizar el conteo de predicciones correctas y totales en general
            total_correct += (predicted == labels).sum().item()
            total_samples += labels.size(0)

    # Calcular la accuracy general
    overall_accuracy = total_correct / total_samples

    # Calcular la accuracy por dígito
    accuracy_per_digit = correct_per_class / total_per_class

    return overall_accuracy, accuracy_per_digit.tolist()

# %% id="comprobar-evaluacion"
# Comprobación: evaluate_accuracy da la accuracy general y por dígito de mnistlab
check.evaluate("evaluate_accuracy", lang="es")

# %% [markdown]
# Cargamos el modelo entrenado y lo evaluamos en conjunto de prueba:

# %% id="evaluacion-mlp"
# Cargar el modelo entrenado (no es necesario si se encuentra en memoria)
model1 = MultiLayerNN()
model1.load_state_dict(torch.load("./multinn.pth", weights_only=True))
model1.to(device)

# Evaluar el modelo entrenado en el conjunto de prueba
overall_accuracy, accuracy_per_digit = evaluate_accuracy(model1, test_dataset, device)

print("Resultados MultiLayerNN:\n")

# Mostrar la accuracy general
print(f"Accuracy General: {overall_accuracy:.4f}")
print()

# Mostrar la accuracy por dígito
for i, acc in enumerate(accuracy_per_digit):
    print(f"Accuracy para el dígito {i}: {acc:.4f}")

# %% id="comprobar-mlp-accuracy"
# Comprobación: la accuracy de tu red entrenada, frente a la que da la receta de la práctica
check.accuracy("./multinn.pth", lang="es")

# %% [markdown]
# # Red Neuronal Convolucional
#
# Ahora probaremos resolver el problema de clasificación utilizando una red neuronal convolucional (`CNN`).
#
# ## Arquitectura de la red
# La arquitectura de la red está compuesta por las siguientes capas:
#
# * Capa convolucional 1: 6 filtros de 5x5 con stride de 1 y padding de 2.
# * Función de activación ReLU.
# * Max pooling 1: filtro de 2x2 con stride de 2 y sin padding.
# * Capa convolucional 2: 16 filtros de 5x5 con stride de 1 y sin padding.
# * Función de activación ReLU.
# * Max pooling 2: filtro de 2x2 con stride de 2 y sin padding.
# * Capa totalmente conectada 1: 120 neuronas.
# * Función de activación ReLU.
# * Capa totalmente conectada 2: 84 neuronas.
# * Función de activación ReLU.
# * Capa de salida: 10 neuronas.
#
# ## Herramientas de PyTorch:
# Algunas clases y funciones de PyTorch que nos serán útiles para implementar el modelo son:
# * `nn.Conv2d`: una capa convolucional 2D. Es necesario especificar el número de canales de entrada, el número de filtros, el tamaño del kernel, el stride y el padding.
# * `nn.MaxPool2d`: implementa una capa de max pooling 2D. Se especifica el tamaño del filtro de pooling y el stride.
# * `nn.Linear`: implementa una capa totalmente conectada. Debemos especificar el número de entradas y salidas de la capa.
# * `F.relu`: implementa la función de activación ReLU, que se aplica después de las capas de convolución y totalmente conectadas (la podemos aplicar directamente dentro del método `forward` de la red).
#
# ## Entrenamiento del modelo
# * **Optimizador**: utilizaremos el método de Gradiente Descendente Estocástico por mini-batches (`optim.SGD`) para ajustar los pesos de la red durante el entrenamiento.
# * **Función de pérdida**: la función de pérdida será la Entropía Cruzada (`nn.CrossEntropyLoss`), adecuada para problemas de clasificación multiclase, como la clasificación de dígitos manuscritos.
#
# ## Salida de las capas convolucionales:
# Para calcular el tamaño de salida de las capas convolucionales, utilizaremos la siguiente fórmula:
#
# $$O = \frac{(W - F + 2P)}{S} + 1$$
#
# Donde:
# * F: tamaño del filtro.
# * W: tamaño de la entrada.
# * P: padding aplicado.
# * S: stride utilizado.

# %% [markdown]
# > **Nota (errata corregida):** el enunciado original escribía `nn.Conv2D`. En PyTorch esa clase no
# > existe (`nn.Conv2D` da `AttributeError`); la capa convolucional 2D es `nn.Conv2d`, con "d"
# > minúscula, como ya usaba el código de la práctica. La lista de herramientas de arriba está corregida.

# %% [markdown]
# Implementamos la red neuronal convolucional:

# %%
class CNN(nn.Module):
    """
    Red neuronal convolucional (CNN)
    """
    def __init__(self):
        super().__init__()

        # Primera capa convolucional + Max pooling
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, stride=1, padding=2)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)

        # Segunda capa convolucional + Max pooling
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5, stride=1, padding=0)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)

        # Capas totalmente conectadas 1 y 2
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)

        # Capa de salida
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        # Aplicar la primera capa convolucional seguida de ReLU y Max Pooling
        x = self.conv1(x)
        x = torch.relu(x)
        x = self.pool1(x)

        # Aplicar la segunda capa convolucional seguida de ReLU y Max Pooling
        x = self.conv2(x)
        x = torch.relu(x)
        x = self.pool2(x)

        # Transformar la entrada en un vector para las capas totalmente conectadas
        x = x.view(-1, 16 * 5 * 5)

        # Aplicar la primera capa totalmente conectada seguida de ReLU
        x = self.fc1(x)
        x = torch.relu(x)

        # Aplicar la segunda capa totalmente conectada seguida de ReLU
        x = self.fc2(x)
        x = torch.relu(x)

        # Aplicar la capa de salida
        x = self.fc3(x)

        return x

# %% id="comprobar-cnn-arquitectura"
# Comprobación: las capas de CNN (tamaños, kernel, stride, padding) y su pasada forward
check.architecture("CNN", lang="es")
check.forward("CNN", lang="es")

# %% [markdown]
# Y el proceso de entrenamiento:

# %%
# Semilla fija antes de construir la red (en CPU, las pérdidas coinciden paso a paso con
# `mnistlab train cnn --seed 0`).
torch.manual_seed(0);

# %% id="entrenamiento-cnn"
# Configuración del dispositivo (GPU si está disponible, de lo contrario CPU)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# Construcción del modelo y envío al dispositivo
model2 = CNN()
model2.to(device)

# Creación de dataLoaders para manejar los batches de entrenamiento y prueba
batch_size = 64
train_loader = DataLoader(dataset=train_dataset, batch_size=batch_size, shuffle=True)
test_loader = DataLoader(dataset=test_dataset, batch_size=batch_size, shuffle=False)

# Función de pérdida y optimizador
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model2.parameters(), lr=0.01)

# Lista para guardar los valores de pérdida durante el entrenamiento
train_loss = []

# Épocas de entrenamiento (MNISTLAB_EPOCHS acorta la ejecución sin editar el cuaderno; por defecto, 10)
num_epochs = int(os.environ.get("MNISTLAB_EPOCHS", 10))

# Tope opcional de pasos para ejecuciones cortas (MNISTLAB_MAX_STEPS; 0 = sin tope)
max_steps = int(os.environ.get("MNISTLAB_MAX_STEPS", 0))

# Establecer el modelo en modo entrenamiento
model2.train()

# Bucle de entrenamiento
for epoch in range(num_epochs):
    for inputs, labels in train_loader:
        # Mover los datos a la GPU
        inputs, labels = inputs.to(device), labels.to(device)

        # Limpiar los gradientes
        optimizer.zero_grad()

        # Pasada forward
        outputs = model2(inputs)

        # Calcular la pérdida
        loss = criterion(outputs, labels)

        # Pasada backward
        loss.backward()

        # Actualizar los pesos
        optimizer.step()

        # Guardar el valor de pérdida
        train_loss.append(loss.item())

        if max_steps and len(train_loss) >= max_steps:
            break

    print(f"Época {epoch + 1}/{num_epochs}, Pérdida: {loss.item():.4f}")

    if max_steps and len(train_loss) >= max_steps:
        break

# %% id="comprobar-cnn-entrenamiento"
# Comprobación: el bucle de entrenamiento de la CNN
check.training("CNN", lang="es")

# %% [markdown]
# Guardamos el modelo para poder reutilizarlo cuando queramos:

# %%
torch.save(model2.state_dict(), "./cnn.pth")

# %% id="comprobar-cnn-guardado"
# Comprobación: cnn.pth se carga en la clase de la práctica
check.saved("./cnn.pth", lang="es")

# %% [markdown]
# Visualizamos los valores de la función de pérdida durante el entrenamiento:

# %%
train_loss = np.array(train_loss)
N = 60
run_avg_train_loss = np.convolve(train_loss, np.ones((N,))/N, mode="valid")

plt.figure()
plt.plot(train_loss, alpha = 0.3) # original
plt.plot(run_avg_train_loss, color="red")   # versión suavizada
plt.title("Pérdida durante el entrenamiento (CNN)")

# %% id="comprobar-cnn-figura"
# Comprobación: la figura de la CNN tiene la pérdida y su media móvil de 60 pasos
check.plots("train_loss", "run_avg_train_loss", lang="es")

# %% [markdown]
# Cargamos el modelo entrenado y lo evaluamos en conjunto de prueba:

# %% id="evaluacion-cnn"
# Cargar el modelo entrenado (no es necesario si se encuentra en memoria)
model2 = CNN()
model2.load_state_dict(torch.load("./cnn.pth", weights_only=True))
model2.to(device)

# Evaluar el modelo entrenado en el conjunto de prueba
overall_accuracy, accuracy_per_digit = evaluate_accuracy(model2, test_dataset, device)

print("Resultados CNN:\n")

# Mostrar la accuracy general
print(f"Accuracy General: {overall_accuracy:.4f}")
print()

# Mostrar la accuracy por dígito
for i, acc in enumerate(accuracy_per_digit):
    print(f"Accuracy para el dígito {i}: {acc:.4f}")

# %% id="comprobar-cnn-accuracy"
# Comprobación: la accuracy de la CNN entrenada, frente a la que da la receta de la práctica
check.accuracy("./cnn.pth", lang="es")

# %% [markdown]
# # Entregable
#
# 1. Completar el código para la red neuronal multicapa (MultiLayerNN) y la red neuronal convolucional (CNN).
# 2. Analizar los resultados obtenidos en el conjunto de prueba para ambas redes.
#
# (Opcional):
# 3. Calcular la cantidad total de parámetros en cada red neuronal y comparar estos valores.
# 4. Para la red convolucional, calcular y documentar el tamaño de las entradas y salidas de cada capa convolucional, así como el número de feature maps generados en cada capa.

# %% [markdown]
# # Respuestas al entregable
#
# **1.** El código completo de `MultiLayerNN`, `CNN`, sus bucles de entrenamiento y `evaluate_accuracy`
# está en las celdas anteriores.
#
# Las respuestas 2–4 se calculan a continuación con los modelos entrenados (`model1` y `model2`) y con
# funciones de `mnistlab`. El texto de cada respuesta se genera a partir de los números, de modo que
# siempre coincide con ellos (también en una ejecución corta).

# %%
from IPython.display import Markdown, display

from mnistlab.data import load_split
from mnistlab.evaluate import evaluate
from mnistlab.layers import cnn_size_rows, format_shape, parameter_rows


def num(n):
    """Entero con punto de miles: 669706 -> '669.706'."""
    return f"{n:,}".replace(",", ".")


def dec(x, decimales=4):
    """Número con coma decimal: 0.1234 -> '0,1234'."""
    return f"{x:.{decimales}f}".replace(".", ",")


def pct(x, decimales=2):
    """Fracción como porcentaje con coma decimal: 0.9403 -> '94,03 %'."""
    return f"{dec(100 * x, decimales)} %"


# "el MultiLayerNN" (el modelo), "la CNN" (la red)
con_articulo = {"MultiLayerNN": "el MultiLayerNN", "CNN": "la CNN"}


# Las 10.000 imágenes de prueba como un solo tensor (los mismos valores que da ToTensor())
test_images, test_labels = load_split("./data", "test")
redes = {"MultiLayerNN": model1, "CNN": model2}
resultados = {nombre: evaluate(red, test_images, test_labels, device) for nombre, red in redes.items()}

# Comprobación: mnistlab mide lo mismo que nuestra evaluate_accuracy (la última celda evaluó la CNN)
assert resultados["CNN"].overall_accuracy == overall_accuracy
assert resultados["CNN"].per_digit_accuracy == accuracy_per_digit

# %% [markdown]
# ## 2. Análisis de los resultados en el conjunto de prueba
#
# El texto del análisis lo escriben las mismas funciones que el informe de `mnistlab report --lang es`
# (`mnistlab.report.analysis`), a partir de los resultados de esta ejecución: las frases del cuaderno y
# las del informe son las mismas.

# %%
from mnistlab.report.analysis import analysis_sentences, network_from_evaluation

mlp, cnn = resultados["MultiLayerNN"], resultados["CNN"]

def diferencia(a, b):
    """b − a en puntos porcentuales, con signo: '+0,41 pp'."""
    return f"{100 * (b - a):+.2f} pp".replace(".", ",")


print(f"{'Dígito':<8}{'MultiLayerNN':>14}{'CNN':>10}{'CNN − MLP':>13}")
for d in range(10):
    a, b = mlp.per_digit_accuracy[d], cnn.per_digit_accuracy[d]
    print(f"{d:<8}{pct(a):>14}{pct(b):>10}{diferencia(a, b):>13}")
a, b = mlp.overall_accuracy, cnn.overall_accuracy
print(f"{'General':<8}{pct(a):>14}{pct(b):>10}{diferencia(a, b):>13}")

# Cada red como la ve el análisis del informe. La pérdida del MultiLayerNN no se guardó (train_loss se
# reutilizó para la CNN), así que su convergencia no se comenta aquí; la de la CNN sí.
pasos_por_epoca = len(train_loader)
red_mlp = network_from_evaluation("mlp", mlp, model1, [], pasos_por_epoca)
red_cnn = network_from_evaluation("cnn", cnn, model2, train_loss, pasos_por_epoca)
e_mlp, e_cnn = red_mlp.errors, red_cnn.errors

texto = [f"Las dos redes se entrenaron igual: SGD con lr = 0,01 y batches de {batch_size} imágenes durante "
         f"{num(len(train_loss))} pasos, es decir, {dec(len(train_loss) / pasos_por_epoca, 1)} épocas."]
texto += analysis_sentences(red_mlp, red_cnn, lang="es")
if e_cnn < e_mlp:
    texto.append(
        "La ventaja de la CNN se explica por su arquitectura: cada filtro mira una vecindad de 5×5 píxeles y "
        "se aplica en todas las posiciones de la imagen (pesos compartidos), y el max pooling tolera "
        "pequeños desplazamientos del trazo. El MultiLayerNN, en cambio, trata cada píxel como una entrada "
        "independiente y tiene que aprender por separado el mismo trazo en cada posición.")
respuesta_2 = "\n\n".join(texto)
display(Markdown(respuesta_2))

# %% [markdown]
# ## 3. Número de parámetros de cada red
#
# Una capa `nn.Linear(entradas, salidas)` tiene `entradas × salidas` pesos y `salidas` sesgos; una
# `nn.Conv2d` tiene `filtros × canales de entrada × F × F` pesos y un sesgo por filtro. Las capas de
# pooling y ReLU no tienen parámetros.

# %%
def calculo(capa):
    """La cuenta de parámetros de una capa, escrita como producto."""
    forma = capa.weight_shape
    if capa.kind == "Conv2d":
        return f"{forma[0]}·{forma[1]}·{forma[2]}·{forma[3]} + {capa.biases}"
    return f"{forma[1]}·{forma[0]} + {capa.biases}"


totales = {}
for nombre, red in redes.items():
    filas = parameter_rows(red)
    totales[nombre] = sum(f.total for f in filas)
    assert totales[nombre] == sum(p.numel() for p in red.parameters())
    print(f"{nombre}")
    print(f"  {'Capa':<7}{'Tipo':<8}{'Cálculo':<20}{'Parámetros':>11}")
    for f in filas:
        print(f"  {f.name:<7}{f.kind:<8}{calculo(f):<20}{num(f.total):>11}")
    print(f"  {'Total':<35}{num(totales[nombre]):>11}\n")

mlp_filas, cnn_filas = parameter_rows(model1), parameter_rows(model2)
mayor_mlp = max(mlp_filas, key=lambda f: f.total)
mayor_cnn = max(cnn_filas, key=lambda f: f.total)
conv = sum(f.total for f in cnn_filas if f.kind == "Conv2d")
comparacion = ("aun así acierta menos en el conjunto de prueba" if e_mlp > e_cnn
               else "acierta al menos tanto como la CNN en esta ejecución")
respuesta_3 = (
    f"El MultiLayerNN tiene **{num(totales['MultiLayerNN'])}** parámetros y la CNN **{num(totales['CNN'])}**: "
    f"el MultiLayerNN tiene {dec(totales['MultiLayerNN'] / totales['CNN'], 1)} veces más y {comparacion}.\n\n"
    f"En el MultiLayerNN, la capa {mayor_mlp.name} ({calculo(mayor_mlp)} = {num(mayor_mlp.total)}) reúne el "
    f"{pct(mayor_mlp.total / totales['MultiLayerNN'], 1)} de los parámetros: cada uno de los 784 píxeles se "
    f"conecta con cada una de las 512 neuronas. En la CNN, las dos capas convolucionales suman solo "
    f"{num(conv)} parámetros ({pct(conv / totales['CNN'], 1)}), porque cada filtro de 5×5 se comparte en "
    f"todas las posiciones de la imagen; la mayor parte está en {mayor_cnn.name} "
    f"({calculo(mayor_cnn)} = {num(mayor_cnn.total)}, el {pct(mayor_cnn.total / totales['CNN'], 1)}).")
display(Markdown(respuesta_3))

# %% [markdown]
# ## 4. Tamaños de entrada y salida de cada capa de la CNN
#
# Con la fórmula $O = \frac{(W - F + 2P)}{S} + 1$ (que también vale para el max pooling) se obtiene el
# tamaño de cada salida; `cnn_size_rows` de mnistlab hace la cuenta y la comprueba con las formas que
# produce de verdad una pasada forward de `model2` (si no coincidieran, la celda daría un error).

# %%
TIPOS = {"image": "imagen", "view": "aplanado"}
filas = cnn_size_rows(model2)
print(f"{'Capa':<8}{'Tipo':<10}{'Entrada':<14}{'Salida':<14}{'Mapas':>5}  Cálculo")
entrada = None
for f in filas:
    calculo_tamano = "imagen de 28×28 en escala de grises" if f.layer == "input" else f.working
    mapas = "" if f.feature_maps is None else str(f.feature_maps)
    print(f"{f.layer:<8}{TIPOS.get(f.kind, f.kind):<10}{format_shape(entrada) if entrada else '—':<14}"
          f"{format_shape(f.shape):<14}{mapas:>5}  {calculo_tamano}")
    entrada = f.shape

anterior = {filas[i].layer: filas[i - 1].shape for i in range(1, len(filas))}
lineas = []
for f in filas:
    if f.kind in ("Conv2d", "MaxPool2d"):
        c, w, _ = anterior[f.layer]
        que = (f"{f.feature_maps} filtros de {f.kernel}×{f.kernel}" if f.kind == "Conv2d"
               else f"max pooling de {f.kernel}×{f.kernel}")
        lineas.append(
            f"* **{f.layer}** ({que}, S = {f.stride}, P = {f.padding}): entrada {format_shape(anterior[f.layer])}, "
            f"salida {format_shape(f.shape)}, con {f.working}; "
            f"{'genera' if f.kind == 'Conv2d' else 'conserva'} **{f.feature_maps} feature maps** "
            f"de {f.shape[1]}×{f.shape[2]}.")
aplanado = next(f for f in filas if f.layer == "flatten")
lineas.append(
    f"\nAl aplanar la salida de pool2 quedan {aplanado.working} valores: de ahí el `16 * 5 * 5` de "
    f"`nn.Linear(16 * 5 * 5, 120)` y de `x.view(-1, 16 * 5 * 5)`. Las convoluciones conservan "
    f"(conv1, gracias a P = 2) o reducen poco (conv2) el tamaño, y cada pooling lo divide por 2.")
respuesta_4 = "\n".join(lineas)
display(Markdown(respuesta_4))

# %% id="comprobar-entregable"
# Comprobación: las respuestas 2-4 (el análisis lo lee además una persona)
check.analysis(respuesta_2, lang="es")
check.parameters(respuesta_3, lang="es")
check.sizes(respuesta_4, lang="es")

# %% [markdown]
# Los feature maps de `model2` para la primera imagen de prueba (salidas de conv1 y conv2 tras la ReLU):

# %%
imagen = test_images[:1].to(device)  # (1, 1, 28, 28)
with torch.no_grad():
    mapas1 = torch.relu(model2.conv1(imagen))  # (1, 6, 28, 28)
    mapas2 = torch.relu(model2.conv2(model2.pool1(mapas1)))  # (1, 16, 10, 10)

fig, ejes = plt.subplots(3, 8, figsize=(8, 3.4))
for eje in ejes.flat:
    eje.axis("off")
ejes[0, 0].imshow(imagen[0, 0].cpu(), cmap="gray_r")
ejes[0, 0].set_title(f"entrada ({int(test_labels[0])})", fontsize=8)
for k in range(6):
    ejes[0, k + 1].imshow(mapas1[0, k].cpu(), cmap="viridis")
    ejes[0, k + 1].set_title(f"conv1 #{k + 1}", fontsize=8)
for k in range(16):
    eje = ejes[1 + k // 8, k % 8]
    eje.imshow(mapas2[0, k].cpu(), cmap="viridis")
    eje.set_title(f"conv2 #{k + 1}", fontsize=8)
fig.tight_layout()
