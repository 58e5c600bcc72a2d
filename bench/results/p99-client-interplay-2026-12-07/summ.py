import json,sys,os
T=float(sys.argv[1]); label=sys.argv[2]
d=json.load(open('/tmp/p99/client.json')); s=d['seconds']; rate=d['operations']/s
ops=rate*T
def rd(fn):
    cpu={};proc={}
    for l in open(fn):
        f=l.split()
        if f[0].startswith('cpu'): cpu[f[0]]=sum(int(x) for x in f[1:4])+sum(int(x) for x in f[6:9])
        else: proc[f[1]]=int(f[2])
    return cpu,proc
c0,p0=rd('/tmp/p99/t0'); c1,p1=rd('/tmp/p99/t1')
busy={k:(c1[k]-c0[k])/100/T for k in c0}; pb={k:(p1[k]-p0[k])/100/T for k in p0}
sp,cp=list(p0)
other0=busy['cpu0']-pb[sp]; other1=busy['cpu1']-pb[cp]
print(f"{label}: rt/s={rate:,.0f} p50={d['p50Microseconds']/1000:.1f}ms p99={d['p99Microseconds']/1000:.1f}ms srv={d['serverCpuSeconds']*1e6/d['operations']:.1f}us/rt ({d['serverCpuSeconds']/s:.2f} cores) cli={d['clientCpuSeconds']*1e6/d['operations']:.1f}us/rt ({d['clientCpuSeconds']/s:.2f} cores) | probe: srv {pb[sp]:.2f} cli {pb[cp]:.2f} OTHER cpu0 {other0:.2f} cpu1 {other1:.2f} err={d['errors']}")
for who in ('srv','cli'):
    if not os.path.exists(f'/tmp/p99/{who}.perf') or os.environ.get('NOPERF'): continue
    out=[]
    for line in open(f'/tmp/p99/{who}.perf'):
        f=line.strip().split(',')
        if len(f)<3 or not f[0].replace('.','').isdigit(): continue
        v=float(f[0]); name=f[2].replace('syscalls:sys_enter_','').replace('raw_syscalls:sys_enter','syscalls')
        if name=='task-clock': out.append(f"cpu={v*1e3/ops:.1f}us"); continue
        if v==0 or name=='cpu-migrations': continue
        out.append(f"{name}={v/ops:.3f}")
    print('   ',who,'per rt:',' '.join(out))
    os.remove(f'/tmp/p99/{who}.perf')
