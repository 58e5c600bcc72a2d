using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Sockeye.Transport;

/// <summary>
/// One send in flight: a reusable <see cref="SocketAsyncEventArgs"/> that can be awaited, taken from
/// <see cref="SocketSenderPool"/> for the length of one flush and given back after it.
/// </summary>
/// <remarks>
/// Why not <c>Socket.SendAsync(ReadOnlyMemory)</c>: the socket then keeps an event-args object of its
/// own (about 300 bytes) for the rest of its life, and a connection that sent once holds it while idle.
/// Pooled senders are held only while bytes are going out (Kestrel's <c>SocketSenderPool</c> does the
/// same). A multi-block buffer goes out as one gathered send (sendmsg with an iovec).
/// </remarks>
internal sealed class SocketSender : SocketAsyncEventArgs, IValueTaskSource<int>
{
    private readonly List<ArraySegment<byte>> _segments = [];
    private ManualResetValueTaskSourceCore<int> _source;

    public SocketSender()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    /// <summary>Sends all of <paramref name="buffer"/>; completes when the kernel has taken every byte.</summary>
    public ValueTask<int> SendAsync(Socket socket, in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            if (BufferList is not null)
            {
                BufferList = null;
            }

            SetBuffer(MemoryMarshal.AsMemory(buffer.First));
        }
        else
        {
            SetBuffer(null, 0, 0);
            _segments.Clear();
            foreach (var memory in buffer)
            {
                _segments.Add(MemoryMarshal.TryGetArray(memory, out var segment) ? segment : new ArraySegment<byte>(memory.ToArray()));
            }

            BufferList = _segments;
        }

        _source.Reset();
        if (socket.SendAsync(this))
        {
            return new ValueTask<int>(this, _source.Version);
        }

        return SocketError == SocketError.Success
            ? new ValueTask<int>(BytesTransferred)
            : ValueTask.FromException<int>(new SocketException((int)SocketError));
    }

    /// <summary>Forgets the buffers so the pool does not keep them alive.</summary>
    public void Clear()
    {
        if (BufferList is not null)
        {
            BufferList = null;
            _segments.Clear();
        }
        else
        {
            SetBuffer(null, 0, 0);
        }
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _source.SetResult(BytesTransferred);
        }
        else
        {
            _source.SetException(new SocketException((int)SocketError));
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}

/// <summary>The server's senders, reused across connections; holds at most <see cref="MaxPooled"/> idle ones.</summary>
internal sealed class SocketSenderPool
{
    private const int MaxPooled = 1024;

    private readonly ConcurrentQueue<SocketSender> _free = new();
    private int _count;

    public SocketSender Rent()
    {
        if (_free.TryDequeue(out var sender))
        {
            Interlocked.Decrement(ref _count);
            return sender;
        }

        return new SocketSender();
    }

    public void Return(SocketSender sender)
    {
        sender.Clear();
        if (Interlocked.Increment(ref _count) > MaxPooled)
        {
            Interlocked.Decrement(ref _count);
            sender.Dispose();
            return;
        }

        _free.Enqueue(sender);
    }
}
