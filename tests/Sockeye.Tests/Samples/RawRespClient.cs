using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Samples;

/// <summary>A raw RESP client over a socket: sends bytes, reads whole replies (for byte-exact checks).</summary>
internal sealed class RawRespClient : IDisposable
{
    private readonly Socket _socket;
    private readonly List<byte> _buffer = [];

    private RawRespClient(Socket socket) => _socket = socket;

    public static async Task<RawRespClient> ConnectAsync(EndPoint endPoint) => new(await Loopback.ConnectAsync(endPoint));

    public Task SendAsync(string text) => _socket.SendAllAsync(Encoding.Latin1.GetBytes(text));

    public Task SendAsync(byte[] bytes) => _socket.SendAllAsync(bytes);

    /// <summary>Reads until <paramref name="count"/> complete replies have arrived and returns their raw text.</summary>
    public async Task<string> ReadRepliesAsync(int count = 1)
    {
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        while (true)
        {
            var end = 0;
            var found = 0;
            while (found < count && TryReply(_buffer, ref end))
            {
                found++;
            }

            if (found == count)
            {
                var text = Encoding.Latin1.GetString(_buffer.GetRange(0, end).ToArray());
                _buffer.RemoveRange(0, end);
                return text;
            }

            var chunk = new byte[65536];
            var n = await _socket.ReceiveAsync(chunk, SocketFlags.None, timeout.Token);
            if (n == 0)
            {
                throw new IOException($"the server closed after {Encoding.Latin1.GetString(_buffer.ToArray())}");
            }

            _buffer.AddRange(chunk.AsSpan(0, n));
        }
    }

    /// <summary>Reads to the end and returns what arrived and how it ended.</summary>
    public async Task<(string Text, SocketError End)> ReadToEndAsync()
    {
        var chunk = new byte[65536];
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(chunk, SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    return (Encoding.Latin1.GetString(_buffer.ToArray()), SocketError.Success);
                }

                _buffer.AddRange(chunk.AsSpan(0, n));
            }
        }
        catch (SocketException ex)
        {
            return (Encoding.Latin1.GetString(_buffer.ToArray()), ex.SocketErrorCode);
        }
    }

    public void Dispose() => _socket.Dispose();

    private static bool TryReply(List<byte> buffer, ref int at)
    {
        var lineEnd = IndexOfCrlf(buffer, at);
        if (lineEnd < 0)
        {
            return false;
        }

        var kind = (char)buffer[at];
        var header = Encoding.ASCII.GetString(buffer.GetRange(at + 1, lineEnd - at - 1).ToArray());
        var next = lineEnd + 2;
        switch (kind)
        {
            case '$':
                var length = int.Parse(header, System.Globalization.CultureInfo.InvariantCulture);
                if (length >= 0)
                {
                    if (buffer.Count < next + length + 2)
                    {
                        return false;
                    }

                    next += length + 2;
                }

                break;
            case '*':
                var count = int.Parse(header, System.Globalization.CultureInfo.InvariantCulture);
                for (var i = 0; i < count; i++)
                {
                    if (!TryReply(buffer, ref next))
                    {
                        return false;
                    }
                }

                break;
        }

        at = next;
        return true;
    }

    private static int IndexOfCrlf(List<byte> buffer, int from)
    {
        for (var i = from; i + 1 < buffer.Count; i++)
        {
            if (buffer[i] == '\r' && buffer[i + 1] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}
