import socket,sys
for p in (int(sys.argv[1]), int(sys.argv[2])):
    s=socket.socket()
    try: s.connect(('127.0.0.1',p)); print(p,'ok')
    except OSError as e: print(p,e)
s=socket.socket()
try: s.bind(('127.0.0.1',0)); s.listen(); print('bind0 ok')
except OSError as e: print('bind0',e)
s=socket.socket()
try: s.bind(('127.0.0.1',+1)); print('bind ok')
except OSError as e: print('bind',e)
