// plain-echo: the baseline Sockeye must match. A plain .NET echo server written the way a careful
// developer would without a framework: Socket.AcceptAsync in a loop, one task per connection, a
// zero-byte receive while idle (so an idle connection holds no buffer) and a 4 KiB buffer from
// ArrayPool while bytes flow. No pipes, no deadlines, no limits, no metrics.
//
// usage: plain-echo [port]      prints "listening on 127.0.0.1:PORT", runs until killed.
using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

var port = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 7001;
using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(512);
Console.WriteLine($"listening on {listener.LocalEndPoint}");

while (true)
{
    var socket = await listener.AcceptAsync();
    socket.NoDelay = true;
    _ = Task.Run(() => EchoAsync(socket));
}

static async Task EchoAsync(Socket socket)
{
    try
    {
        while (true)
        {
            await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var received = await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (received == 0)
                {
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, received), SocketFlags.None);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
    catch (SocketException)
    {
    }
    finally
    {
        socket.Dispose();
    }
}
