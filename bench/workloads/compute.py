# Pure computation, about 0.7 s natively: next to no syscalls, so the jail
# should cost nothing beyond its start-up.
total = 0
for i in range(12_000_000):
    total += i * i % 7
print(total)
