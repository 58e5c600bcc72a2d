using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using BenchmarkDotNet.Attributes;
using Sockeye.Framing;

namespace Sockeye.Benchmarks;

/// <summary>
/// Decode throughput of each framing codec, per frame, for small (32 B) and large (16 KiB) frames:
/// <c>Decode</c> cuts frames out of a 4 KiB-segmented buffer (the decoder alone);
/// <c>ReadFrameAsync</c> reads them through the connection helper from a pipe (the zero-copy path a
/// handler uses). Bytes/s = FrameSize / Mean.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int Frames = 1024;

    private byte[] _stream = [];
    private ReadOnlySequence<byte> _segmented;
    private Func<IFrameCodec> _factory = () => new FixedSizeCodec(1);

    /// <summary>The frame format.</summary>
    [Params("line", "delimiter", "length-prefix", "fixed")]
    public string Codec { get; set; } = "line";

    /// <summary>Bytes per frame, as handed out.</summary>
    [Params(32, 16 * 1024)]
    public int FrameSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var max = 64 * 1024;
        _factory = Codec switch
        {
            "line" => () => new LineCodec(max),
            "delimiter" => () => new DelimiterCodec("\r\n\r\n"u8, max),
            "length-prefix" => () => new LengthPrefixCodec(max),
            _ => () => new FixedSizeCodec(FrameSize),
        };

        var frame = new byte[FrameSize];
        Array.Fill(frame, (byte)'a');
        var codec = _factory();
        var output = new ArrayBufferWriter<byte>();
        for (var i = 0; i < Frames; i++)
        {
            codec.Encode(new ReadOnlySequence<byte>(frame), output);
        }

        _stream = output.WrittenSpan.ToArray();
        _segmented = SegmentedBuffer.Create(_stream);
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public long Decode()
    {
        var codec = _factory();
        var input = _segmented;
        long bytes = 0;
        while (codec.TryDecode(input, out var frame, out var consumed))
        {
            bytes += frame.Length;
            input = input.Slice(consumed);
        }

        return bytes;
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public async Task<long> ReadFrameAsync()
    {
        var codec = _factory();
        var connection = new PipeConnection();

        // A writer feeds the pipe 4 KiB at a time, as a receive loop would, so buffers cycle through the
        // pool; its copy is part of the time (receive + frame), not of the reader's allocations.
        var feeding = FeedAsync(connection.Feed, _stream);
        long bytes = 0;
        while (await connection.ReadFrameAsync(codec) is { } frame)
        {
            bytes += frame.Length;
        }

        await feeding;
        return bytes;
    }

    private static async Task FeedAsync(PipeWriter writer, byte[] stream)
    {
        for (var offset = 0; offset < stream.Length; offset += SegmentedBuffer.BlockSize)
        {
            var result = await writer.WriteAsync(stream.AsMemory(offset, Math.Min(SegmentedBuffer.BlockSize, stream.Length - offset)));
            if (result.IsCompleted)
            {
                break;
            }
        }

        await writer.CompleteAsync();
    }

    /// <summary>A connection whose input is a pipe the benchmark fills.</summary>
    private sealed class PipeConnection : Connection
    {
        private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, minimumSegmentSize: SegmentedBuffer.BlockSize, useSynchronizationContext: false));
        private readonly Pipe _output = new();

        public PipeWriter Feed => _input.Writer;

        public override long Id => 1;

        public override EndPoint? LocalEndPoint => null;

        public override EndPoint? RemoteEndPoint => null;

        public override PipeReader Input => _input.Reader;

        public override PipeWriter Output => _output.Writer;

        public override CancellationToken ConnectionClosed => CancellationToken.None;

        public override CancellationToken ShutdownRequested => CancellationToken.None;

        public override void Abort(string reason)
        {
        }

        public override ValueTask CloseAsync() => ValueTask.CompletedTask;
    }
}
