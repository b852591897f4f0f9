"""The full fuzz run of docs/fuzz.md: `tfpc.fuzz` over every file kind.

  PYTHONPATH=. python benchmarks/fuzz.py --cases=20000 --report=fuzz.json
"""

from tfpc import fuzz

if __name__ == "__main__":
  fuzz.main()
